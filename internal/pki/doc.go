// Package pki creates and loads the cluster's credentials on first start: a CA, the API
// server's serving certificate, the admin client certificate and kubeconfig, and the node
// join token. It writes files only under the data dir it is given, secrets with mode 0600.
// It knows nothing of HTTP handlers or storage.
package pki
