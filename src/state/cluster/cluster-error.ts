/** Cluster state failures, with a stable code an operator can look up in docs/errors.md. */
export type ClusterErrorCode = 'PCL_CLUSTER_UNAVAILABLE' | 'PCL_CLUSTER_COMMAND_FAILED';

/**
 * The message names the operation, never a key, member or value: they may identify a consumer
 * or fingerprint a credential. The client library's own error is not attached as `cause`
 * because ioredis puts the command's arguments on it.
 */
export class ClusterError extends Error {
  constructor(
    readonly code: ClusterErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClusterError';
  }
}

export function closedError(op: string): ClusterError {
  return new ClusterError('PCL_CLUSTER_UNAVAILABLE', `cluster state: ${op} after close`);
}
