import { type KeySpec, nonEmptyString, oneOf } from './value-parsers.ts';

export const CLIENT_CERT_MODES = ['none', 'request', 'require'] as const;

/** `[tls]`: certificate for the mqtt_tls and mqtt_wss listeners (both stay off without one). */
export interface TlsConfig {
  cert_file: string;
  key_file: string;
  ca_file: string;
  client_cert: (typeof CLIENT_CERT_MODES)[number];
}

export const TLS_KEYS: readonly KeySpec<unknown>[] = [
  {
    key: 'tls.cert_file',
    default: '',
    doc: 'PEM certificate (chain) for mqtt_tls and mqtt_wss; empty leaves both listeners off',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'tls.key_file',
    default: '',
    doc: 'PEM private key for tls.cert_file',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'tls.ca_file',
    default: '',
    doc: 'PEM CA bundle that client certificates must chain to',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'tls.client_cert',
    default: 'none',
    doc: 'Client certificates: none, request (verified if sent) or require',
    parse: oneOf(CLIENT_CERT_MODES),
  },
];
