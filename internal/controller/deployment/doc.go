// Package deployment is the Deployment controller: it turns a Deployment's pod template into
// ReplicaSets — one per template version, named <deployment>-<pod-template-hash> — and moves
// replicas from the old ones to the new one according to the strategy (RollingUpdate within
// maxSurge/maxUnavailable, or Recreate), keeping revision annotations, cleaning up history
// past revisionHistoryLimit and reporting Progressing/Available conditions.
//
// Files by concern: controller.go (informers, queue, dispatch), sync.go (ReplicaSet
// lookup/creation, scaling, status), rolling.go, recreate.go, rollback.go (revisions: a
// rollback is a template change back to an old ReplicaSet, which is reused and renumbered),
// progress.go (conditions and deadlines), util.go (pure rollout arithmetic, table-tested).
//
// It only writes Deployments and ReplicaSets; pods are the ReplicaSet controller's, and
// deleting what a Deployment owned is the garbage collector's job.
package deployment
