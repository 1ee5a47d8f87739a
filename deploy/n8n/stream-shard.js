// Paste into an n8n Code node that XADDs events straight to the Redis stream (bypassing the
// API) when ACTIVITY_STREAM_SHARDS is above 1: streamKey(event, shards) is the key to XADD to.
// The activity log's shard rule (docs/CONTRACT.md §4): CRC-32 of the lead reference, mod N.
function crc32(text) {
  let crc = 0xFFFFFFFF;
  for (const byte of Buffer.from(text, 'utf8')) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xEDB88320 : crc >>> 1;
  }
  return (crc ^ 0xFFFFFFFF) >>> 0;
}
// What the API trims from a lead's Airtable id: Unicode White_Space (not JavaScript's trim,
// which also drops \ufeff).
const SPACE = '[\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const AROUND = new RegExp(`^${SPACE}+|${SPACE}+$`, 'g');
function leadReference(e) {
  const named = (v) => typeof v === 'string' && v !== '';
  const airtableId = named(e.leadAirtableId) ? e.leadAirtableId.replace(AROUND, '') : '';
  if (airtableId) return airtableId;
  if (named(e.leadId)) return e.leadId.toLowerCase().replace(/[^0-9a-f]/g, '').slice(-32);
  if (named(e.leadPhone)) {
    const digits = e.leadPhone.replace(/[^0-9]/g, '');
    return digits.length === 10 && !e.leadPhone.trimStart().startsWith('+') ? '1' + digits : digits;
  }
  if (named(e.leadEmail)) return e.leadEmail.toLowerCase();
  return '';
}
function streamKey(event, shards, stream = 'activity:events') {
  if (shards <= 1) return stream;
  const i = stream.lastIndexOf(':');
  const shard = crc32(leadReference(event)) % shards;
  return `${stream.slice(0, i + 1)}{${shard}}:${stream.slice(i + 1)}`;
}
