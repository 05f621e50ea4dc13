package apiserver

import (
	"fmt"
	"net"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeCredentialPath is where a joining agent trades the node token for its own client
// certificate: POST a PEM certificate request with ?node=<name>; the answer is JSON
// {"certificate": PEM, "ca": PEM}. The certificate names system:node:<name> in group
// system:nodes, which the policy limits to that node.
const NodeCredentialPath = "/berth/v1/node-credential"

// NodeCredentialResponse is the answer to a join.
type NodeCredentialResponse struct {
	Certificate []byte `json:"certificate"`
	CA          []byte `json:"ca"`
}

// NodeCertIssuer signs a node's certificate request.
type NodeCertIssuer func(csrPEM []byte, node string) (cert, ca []byte, err error)

func (s *Server) serveNodeCredential(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.writeError(w, r, apierrors.NewMethodNotSupported(metav1.SchemeGroupVersion.WithResource("node-credential").GroupResource(), r.Method))
		return
	}
	u, _ := userFrom(r.Context())
	if !hasGroup(u, GroupMasters) && !hasGroup(u, GroupBootstrap) {
		s.writeError(w, r, apierrors.NewForbidden(metav1.SchemeGroupVersion.WithResource("node-credential").GroupResource(), "",
			fmt.Errorf("User %q cannot request node credentials", u.Name)))
		return
	}
	node := r.URL.Query().Get("node")
	if msgs := validation.NameIsDNSSubdomain(node, false); node == "" || len(msgs) > 0 {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("node: invalid node name %q", node)))
		return
	}
	if s.cfg.IssueNodeCert == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("node credentials are not issued by this server"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cert, ca, err := s.cfg.IssueNodeCert(body, node)
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	s.writeJSON(w, http.StatusCreated, NodeCredentialResponse{Certificate: cert, CA: ca})
}

// NodeServingCertPath is where a node agent, authenticated with its own credential, gets
// the certificate its streaming endpoint serves: POST a PEM certificate request; the
// answer is a NodeCredentialResponse. The certificate is valid for the addresses of the
// caller's Node object (IPs and host names in status.addresses), so the API server can
// verify the node it dials.
const NodeServingCertPath = "/berth/v1/node-serving-cert"

// NodeServingCertIssuer signs a node's serving certificate request for ips and dnsNames.
type NodeServingCertIssuer func(csrPEM []byte, node string, ips []net.IP, dnsNames []string) (cert, ca []byte, err error)

func (s *Server) serveNodeServingCert(w http.ResponseWriter, r *http.Request) {
	gr := metav1.SchemeGroupVersion.WithResource("node-serving-cert").GroupResource()
	if r.Method != http.MethodPost {
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, r.Method))
		return
	}
	u, _ := userFrom(r.Context())
	node := nodeName(u)
	if node == "" || !hasGroup(u, GroupNodes) {
		s.writeError(w, r, apierrors.NewForbidden(gr, "", fmt.Errorf("User %q is not a node", u.Name)))
		return
	}
	if s.cfg.IssueNodeServingCert == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("node serving certificates are not issued by this server"))
		return
	}
	st := s.stores[corev1.SchemeGroupVersion.WithResource("nodes")]
	obj, err := st.Get(r.Context(), "", node)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var ips []net.IP
	var names []string
	for _, a := range obj.(*corev1.Node).Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(a.Address); ip != nil {
				ips = append(ips, ip)
			}
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			if len(validation.NameIsDNSSubdomain(a.Address, false)) == 0 {
				names = append(names, a.Address)
			}
		}
	}
	if len(ips) == 0 && len(names) == 0 {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("node %q has no addresses to certify", node)))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cert, ca, err := s.cfg.IssueNodeServingCert(body, node, ips, names)
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	s.writeJSON(w, http.StatusCreated, NodeCredentialResponse{Certificate: cert, CA: ca})
}
