package simulated

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// heartbeatSlots is how many groups the nodes' renewals are spread over within one
// interval: a tick every interval/slots queues every slots-th node.
const heartbeatSlots = 100

// runHeartbeats queues each running node's Lease renewal once per interval, spread
// evenly: node i renews in slot i mod slots. The lease workers do the writes; the
// queue dedups a node whose previous renewal is still pending, so a slow server makes
// renewals late, never piled up.
func (a *Agent) runHeartbeats(ctx context.Context) {
	slots := min(heartbeatSlots, max(len(a.names), 1))
	ticker := time.NewTicker(a.cfg.HeartbeatInterval / time.Duration(slots))
	defer ticker.Stop()
	for slot := 0; ; slot = (slot + 1) % slots {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		for i := slot; i < len(a.names); i += slots {
			if name := a.names[i]; a.isRegistered(name) && !a.isStopped(name) {
				a.leaseQueue.Add(name)
			}
		}
	}
}

// renewLease sets the node's Lease renewTime to now, creating the Lease when missing.
// The last written Lease is kept so a renewal is one update.
func (a *Agent) renewLease(ctx context.Context, name string) error {
	if a.isStopped(name) {
		return nil
	}
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	a.mu.Lock()
	last := a.leases[name]
	a.mu.Unlock()
	now := metav1.NewMicroTime(time.Now())
	if last != nil {
		l := last.DeepCopy()
		l.Spec.RenewTime = &now
		updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			a.storeLease(updated)
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("renew lease of node %s: %w", name, err)
		}
	}
	if last == nil {
		// First renewal of this process: usually there is no Lease yet.
		created, err := leases.Create(ctx, a.newLease(name, now), metav1.CreateOptions{})
		if err == nil {
			a.storeLease(created)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create lease of node %s: %w", name, err)
		}
	}
	current, err := leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		created, err := leases.Create(ctx, a.newLease(name, now), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create lease of node %s: %w", name, err)
		}
		a.storeLease(created)
		return nil
	case err != nil:
		return fmt.Errorf("get lease of node %s: %w", name, err)
	}
	current.Spec.HolderIdentity = ptr.To(name)
	current.Spec.LeaseDurationSeconds = ptr.To(int32(a.cfg.LeaseDuration / time.Second))
	current.Spec.RenewTime = &now
	updated, err := leases.Update(ctx, current, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", name, err)
	}
	a.storeLease(updated)
	return nil
}

// newLease is the Lease a kubelet keeps for its node, owned by the Node so it goes
// with it.
func (a *Agent) newLease(name string, now metav1.MicroTime) *coordinationv1.Lease {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(name),
			LeaseDurationSeconds: ptr.To(int32(a.cfg.LeaseDuration / time.Second)),
			RenewTime:            &now,
		},
	}
	if uid := a.nodeUID(name); uid != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}}
	}
	return l
}

func (a *Agent) storeLease(l *coordinationv1.Lease) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l.ManagedFields = nil
	a.leases[l.Name] = l
}
