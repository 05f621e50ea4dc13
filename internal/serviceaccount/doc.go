// Package serviceaccount issues and verifies service-account tokens, the bearer tokens
// pods use to call the API server (kubectl create token; the kubelet's projected
// serviceAccountToken volumes).
//
// A token is a compact JWS signed ES256 with the cluster's signing key, carrying
// Kubernetes' claims: iss, sub (system:serviceaccount:<ns>:<name>), aud, iat, nbf, exp,
// jti, and the private "kubernetes.io" claim that binds it to its service account and to
// at most one pod, secret or node (a pod-bound token also names the pod's node). The key
// id is kube-apiserver's: base64url(sha256(PKIX DER of the public key)), so tokens read
// like kube-apiserver's to any verifier.
//
// Verification follows kube-apiserver's authenticator: a token from another issuer gets
// no opinion (another authenticator may take it); ours must carry a known key id and a
// valid ES256 signature, share an audience with the API's (or with those the context
// names: WithAudiences, for TokenReview's spec.audiences), be within exp/nbf with 60 s
// of leeway, and name objects that still exist with the UIDs it carries (an object
// deleted less than 60 s ago still counts, for pods shutting down). Every failure is the
// same plain 401 at the API; the reason is logged. A token that verified is believed for
// a while without checking again (WithCache; the server uses 10 s, as kube-apiserver's
// token cache), so a deleted account's tokens stop within that time.
//
// Legacy tokens, the long-lived ones kubernetes.io/service-account-token Secrets hold
// (SignLegacy; issuer "kubernetes/serviceaccount", no expiry, no audience), are verified
// with the same keys and are good while their Secret still holds them and the account
// exists with the UID they name, as kube-apiserver's legacy validator.
//
// The signing key lives in storage, under a key outside the resource space
// (SigningKeyStorageKey), created by the first server and read by every later one: the
// servers of one etcd share it with no operator step. etcd holds every Secret already;
// the key adds no new exposure.
package serviceaccount
