// The vocabulary of security events, as the admin API defines it.

export const CONTROLS = ['listener', 'routing', 'identity', 'authorization', 'object-access', 'admission', 'validation', 'inspection', 'response', 'anomaly', 'upstream', 'admin'];
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];
export const ACTIONS = ['denied', 'monitored', 'flagged', 'banned', 'recorded'];

/** Every event field, in the order the detail view lists them. */
export const FIELDS = [
  ['time', 'Time'], ['seq', 'Sequence'], ['id', 'Event id'], ['request_id', 'Request id'],
  ['severity', 'Severity'], ['action', 'Action'], ['status', 'Status'],
  ['control', 'Control'], ['kind', 'Kind'], ['rule', 'Rule'], ['location', 'Location'], ['evidence', 'Evidence'],
  ['repeats', 'More like it (coalesced)'],
  ['api', 'API'], ['operation', 'Operation'], ['method', 'Method'], ['path', 'Path'],
  ['consumer', 'Consumer'], ['client', 'Address'], ['actor', 'Actor'],
  ['prev_hash', 'Previous hash'], ['hash', 'Hash'],
];
