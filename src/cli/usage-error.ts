/** A mistake in the command line itself: exit code 2 instead of 1. */
export class UsageError extends Error {}
