"""Analytics: per lead and campaign facts kept by the write path, and the counts read from them."""
