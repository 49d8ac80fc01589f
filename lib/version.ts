/** The package version, sent in `welcome.server.version`. */
export const VERSION = '0.1.0';
