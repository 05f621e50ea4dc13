// Package podutil answers the questions every controller asks of a pod — is it Ready,
// has it finished — the one way Kubernetes' pod helpers answer them.
package podutil
