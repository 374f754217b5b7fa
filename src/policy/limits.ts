/**
 * The sizes Kubernetes allows policy files and documents, in a module of their
 * own so that the stores that read files can cap them without importing the
 * parser (which the functions load only when they first build a policy set).
 */

/** kube-apiserver's request body limit: a larger file could never be applied. */
export const MAX_FILE_BYTES = 3 * 1024 * 1024;
/** etcd's default object limit: a larger document could never be stored. */
export const MAX_DOCUMENT_BYTES = 1536 * 1024;
