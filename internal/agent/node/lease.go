package node

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

type leaseState struct{ last *coordinationv1.Lease }

// renewLease sets the node's Lease renewTime to now, creating it (owned by the Node, so
// it goes with it) when missing. The last written Lease makes a renewal one update.
func (n *Node) renewLease(ctx context.Context) error {
	leases := n.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	n.mu.Lock()
	var last *coordinationv1.Lease
	if n.lease != nil {
		last = n.lease.last
	}
	n.mu.Unlock()
	if last != nil {
		l := last.DeepCopy()
		l.Spec.RenewTime = &now
		updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			n.storeLease(updated)
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("renew lease: %w", err)
		}
	}
	current, err := leases.Get(ctx, n.cfg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		created, err := leases.Create(ctx, n.newLease(now), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create lease: %w", err)
		}
		n.storeLease(created)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease: %w", err)
	}
	current.Spec.HolderIdentity = ptr.To(n.cfg.Name)
	current.Spec.LeaseDurationSeconds = ptr.To(int32(n.cfg.LeaseDuration / time.Second))
	current.Spec.RenewTime = &now
	updated, err := leases.Update(ctx, current, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	n.storeLease(updated)
	return nil
}

func (n *Node) newLease(now metav1.MicroTime) *coordinationv1.Lease {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: n.cfg.Name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(n.cfg.Name),
			LeaseDurationSeconds: ptr.To(int32(n.cfg.LeaseDuration / time.Second)),
			RenewTime:            &now,
		},
	}
	if cur := n.Current(); cur != nil && cur.UID != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: cur.Name, UID: cur.UID}}
	}
	return l
}

func (n *Node) storeLease(l *coordinationv1.Lease) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l.ManagedFields = nil
	n.lease = &leaseState{last: l}
}
