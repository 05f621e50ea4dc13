package serviceaccount

import (
	"context"
	"slices"
)

// Audiences asks Authenticate, through a context, to accept a token for other audiences
// than the API's, as kube-apiserver's TokenReview does with spec.audiences; Authenticate
// records which of them the token carries.
type Audiences struct {
	// Want are the audiences to accept.
	Want []string
	// Got, after a token verified, are those of Want that the token carries (at least
	// one). Authenticate leaves it nil for a token that is not ours.
	Got []string
}

type audiencesKey struct{}

// WithAudiences returns ctx carrying auds for Authenticate, which bypasses the cache
// (what verified for the API's audiences says nothing about other audiences).
func WithAudiences(ctx context.Context, auds *Audiences) context.Context {
	return context.WithValue(ctx, audiencesKey{}, auds)
}

func audiencesFrom(ctx context.Context) *Audiences {
	auds, _ := ctx.Value(audiencesKey{}).(*Audiences)
	return auds
}

// intersect is the audiences of have that want names, in have's order.
func intersect(have, want []string) []string {
	var both []string
	for _, a := range have {
		if slices.Contains(want, a) && !slices.Contains(both, a) {
			both = append(both, a)
		}
	}
	return both
}
