package apiserver

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Groups and users the built-in policy knows.
const (
	GroupMasters      = "system:masters"
	GroupNodes        = "system:nodes"
	GroupBootstrap    = "system:bootstrappers"
	NodeUserPrefix    = "system:node:"
	BootstrapUserName = "system:node-bootstrap"
)

// authorize applies berth's built-in policy (policy.go) to a resource request.
func (s *Server) authorize(ctx context.Context, u User, info requestInfo) error {
	if s.allowed(ctx, u, info) {
		return nil
	}
	return forbidden(u, info)
}

func hasGroup(u User, g string) bool {
	for _, x := range u.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// nodeName returns the node a node credential is bound to ("" for the shared bootstrap
// credential, which acts for any node).
func nodeName(u User) string {
	name, ok := strings.CutPrefix(u.Name, NodeUserPrefix)
	if !ok {
		return ""
	}
	return name
}

// podOnNode reports whether the pod is bound to node.
func (s *Server) podOnNode(ctx context.Context, ns, name, node string) bool {
	st := s.stores[corev1.SchemeGroupVersion.WithResource("pods")]
	if st == nil || name == "" {
		return false
	}
	obj, err := st.Get(ctx, ns, name)
	if err != nil {
		return false
	}
	return obj.(*corev1.Pod).Spec.NodeName == node
}

// forbidden renders Kubernetes' RBAC denial text.
func forbidden(u User, info requestInfo) error {
	res := info.Resource
	if info.Subresource != "" {
		res += "/" + info.Subresource
	}
	scope := "at the cluster scope"
	if info.Namespace != "" && info.Resource != "namespaces" {
		scope = fmt.Sprintf("in the namespace %q", info.Namespace)
	}
	reason := fmt.Errorf("User %q cannot %s resource %q in API group %q %s", u.Name, info.Verb, res, info.Group, scope)
	// The object is named by its resource alone (pods "p", not pods/status "p"), as
	// kube-apiserver's responsewriters.Forbidden does.
	return apierrors.NewForbidden(schema.GroupResource{Group: info.Group, Resource: info.Resource}, info.Name, reason)
}

// nodeRestriction checks what a create names, once the body is read: a credential bound
// to one node may create only that Node and that node's Lease (as Kubernetes'
// NodeRestriction admission).
func nodeRestriction(u User, info requestInfo, obj runtime.Object) error {
	if !strings.HasPrefix(u.Name, NodeUserPrefix) || hasGroup(u, GroupMasters) {
		return nil
	}
	if !(info.Group == "" && info.Resource == "nodes") && !(info.Group == "coordination.k8s.io" && info.Resource == "leases") {
		return nil
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	if own := nodeName(u); a.GetName() != own {
		info.Name = a.GetName()
		return forbidden(u, info)
	}
	return nil
}
