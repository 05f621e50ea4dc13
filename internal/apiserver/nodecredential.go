package apiserver

import (
	"fmt"
	"net/http"

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
