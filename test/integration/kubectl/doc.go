// Package kubectl checks that the real, unmodified kubectl (built from k8s.io/kubectl at
// the Kubernetes version berth speaks) behaves against berth as it does against
// Kubernetes: the same output columns and formats, the same error texts and exit codes,
// the same watch output. Expected texts are Kubernetes' own (kubectl's client-side texts
// and kube-apiserver's server-side ones). It holds tests only; they share one in-process
// cluster and give every check a namespace of its own.
package kubectl
