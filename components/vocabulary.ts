/**
 * The platform's vocabulary: names and numbers that components, the policy rules and the CLI
 * must agree on. Each is written here once and imported everywhere else.
 */

/** The port buildkitd serves mTLS on, unless `slipway:buildRunner.port` says otherwise. */
export const DEFAULT_BUILDKIT_PORT = 1234;
