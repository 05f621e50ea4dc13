// Package disruption keeps the status of policy/v1 PodDisruptionBudgets true, as
// kube-controller-manager's disruption controller does: how many of the pods a budget
// selects are healthy, how many should be, and so how many may be disrupted now
// (status.disruptionsAllowed, which the eviction API spends).
//
// The loop is informer → workqueue → sync(key) of one budget. Pod changes queue the
// budgets selecting the pod (before and after a label change); changes of a ReplicaSet's,
// Deployment's or ReplicationController's scale queue the budgets that count scales
// (maxUnavailable, or minAvailable as a percentage). The status itself is computed by a
// pure function (computeStatus) from the budget, its pods, a scale lookup and the time.
//
// The eviction API decrements disruptionsAllowed and records the pod in
// status.disruptedPods before deleting it; the controller keeps such a pod out of the
// healthy count until it is seen terminating or gone, or DeletionTimeout has passed, and
// rechecks the budget when the earliest entry expires. Status writes carry the cached
// resourceVersion, so a sync never overwrites an eviction it has not seen.
//
// Like kube-controller-manager's, it also resets a pod's DisruptionTarget condition to
// False when the pod is still not deleted StaleDisruptionTimeout after the condition was
// set (an eviction or preemption whose delete failed).
//
// The package is an API client only: it writes budget status, that one pod condition
// and events, nothing else.
package disruption
