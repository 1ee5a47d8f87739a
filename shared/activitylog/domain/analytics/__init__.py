"""What the analytics count, pure: per lead and campaign facts (rules), what they add up to
(counting), the answers' shapes.
"""
