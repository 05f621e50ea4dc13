package serviceaccount

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Paths of the issuer discovery documents, kube-apiserver's.
const (
	OpenIDConfigurationPath = "/.well-known/openid-configuration"
	JWKSPath                = "/openid/v1/jwks"
)

// Discovery renders the OpenID provider configuration of issuer and the JSON Web Key
// Set of keys, which let other systems verify service account tokens (e.g. a cloud's
// workload identity federation), as kube-apiserver serves them. The JWKS URI is the
// issuer's URL with JWKSPath.
func Discovery(issuer string, keys []*ecdsa.PublicKey) (config, jwks []byte, err error) {
	config, err = json.Marshal(map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              strings.TrimSuffix(issuer, "/") + JWKSPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	})
	if err != nil {
		return nil, nil, err
	}
	type jwk struct {
		Use string `json:"use"`
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Crv string `json:"crv"`
		Alg string `json:"alg"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range keys {
		kid, err := KeyID(k)
		if err != nil {
			return nil, nil, err
		}
		ecdh, err := k.ECDH()
		if err != nil {
			return nil, nil, fmt.Errorf("jwks: %w", err)
		}
		// The uncompressed point: 0x04 || X || Y, 32 bytes each for P-256.
		point := ecdh.Bytes()
		size := (len(point) - 1) / 2
		set.Keys = append(set.Keys, jwk{
			Use: "sig", Kty: "EC", Kid: kid, Crv: "P-256", Alg: "ES256",
			X: base64.RawURLEncoding.EncodeToString(point[1 : 1+size]),
			Y: base64.RawURLEncoding.EncodeToString(point[1+size:]),
		})
	}
	jwks, err = json.Marshal(set)
	return config, jwks, err
}
