// Package volumes is the node agent's VolumeManager (the pods.VolumeManager seam): it
// makes a pod's volumes ready under <podsDir>/<uid>/volumes/<plugin>/<name> before its
// containers start and returns each volume's host path; the sync loop turns volumeMounts
// (readOnly, subPath) into CRI mounts from those paths.
//
// Kinds: emptyDir (on disk, or tmpfs with sizeLimit for medium Memory — package pods'
// EmptyDirVolumes does it), configMap, secret (on its own tmpfs, never on disk),
// downwardAPI and projected (configMap, secret, downwardAPI, serviceAccountToken
// sources; on tmpfs when they hold a secret or a token) written as the kubelet's
// AtomicWriter does — a timestamped directory, a "..data" symlink swapped by rename,
// user-visible names that are symlinks through "..data" — so a reader never sees half an
// update; hostPath with its type checks.
//
// Service-account tokens come from the TokenRequest API (serviceaccounts/token, bound to
// the pod: v1 Pod, name, uid) and are cached per (namespace, serviceaccount, audience,
// expirationSeconds, pod uid), as the kubelet's token manager does: a token is reused
// until it is older than 80% of its TTL or than 24 h, less up to 10 s of jitter (age
// counted from status.expirationTimestamp − spec.expirationSeconds); a failed refresh
// keeps the old token while it is unexpired and is retried 10 s later. Run owns one
// timer to the earliest refresh due and, when it fires, rewrites the pods' projected
// volumes atomically; Teardown drops the pod's tokens. The file mode is the volume's
// defaultMode (the kubelet's 0600 + chown for fsGroup/fsUser is not done).
//
// Objects a pod's volumes use are watched one by one through the API (a fieldSelector on
// metadata.name, as the kubelet does, which a node's credential may read); an edit
// rewrites the volumes of every pod that uses the object at once, and later Setups read
// the watch's cache instead of the API. A missing object that is not optional is an error
// whose text the sync loop puts in the FailedMount event.
//
// It must not touch containers or the sandbox; Teardown removes everything it made and
// succeeds when nothing is there.
package volumes
