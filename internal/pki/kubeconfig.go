package pki

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

type kubeconfigFile struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	Clusters       []namedCluster `json:"clusters"`
	Users          []namedUser    `json:"users"`
	Contexts       []namedContext `json:"contexts"`
	CurrentContext string         `json:"current-context"`
}

type namedCluster struct {
	Name    string `json:"name"`
	Cluster struct {
		Server                   string `json:"server"`
		CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`
	} `json:"cluster"`
}

type namedUser struct {
	Name string `json:"name"`
	User struct {
		ClientCertificateData []byte `json:"client-certificate-data,omitempty"`
		ClientKeyData         []byte `json:"client-key-data,omitempty"`
		Token                 string `json:"token,omitempty"`
	} `json:"user"`
}

type namedContext struct {
	Name    string `json:"name"`
	Context struct {
		Cluster   string `json:"cluster"`
		User      string `json:"user"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"context"`
}

// Kubeconfig renders a kubeconfig for one cluster ("berth") and one user, authenticated by
// a client certificate or a bearer token.
func Kubeconfig(server string, caPEM []byte, user string, certPEM, keyPEM []byte, token string) []byte {
	var kc kubeconfigFile
	kc.APIVersion, kc.Kind, kc.CurrentContext = "v1", "Config", "berth"
	var c namedCluster
	c.Name = "berth"
	c.Cluster.Server = server
	c.Cluster.CertificateAuthorityData = caPEM
	var u namedUser
	u.Name = user
	u.User.ClientCertificateData = certPEM
	u.User.ClientKeyData = keyPEM
	u.User.Token = token
	var ctx namedContext
	ctx.Name = "berth"
	ctx.Context.Cluster = "berth"
	ctx.Context.User = user
	kc.Clusters, kc.Users, kc.Contexts = []namedCluster{c}, []namedUser{u}, []namedContext{ctx}
	out, err := yaml.Marshal(kc)
	if err != nil {
		panic(fmt.Sprintf("marshal kubeconfig: %v", err)) // only plain structs: cannot fail
	}
	return out
}

// UpdateKubeconfigServer rewrites the server URL of every cluster in the kubeconfig at path
// when it differs from server (after a --listen change).
func UpdateKubeconfigServer(path, server string) error {
	if server == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var kc kubeconfigFile
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	changed := false
	for i := range kc.Clusters {
		if kc.Clusters[i].Cluster.Server != server {
			kc.Clusters[i].Cluster.Server = server
			changed = true
		}
	}
	if !changed {
		return nil
	}
	out, err := yaml.Marshal(kc)
	if err != nil {
		return err
	}
	return writeFile(path, out, 0o600)
}
