package server

import (
	"fmt"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/controller/deployment"
	"github.com/berth/berth/internal/controller/disruption"
	"github.com/berth/berth/internal/controller/endpointslice"
	"github.com/berth/berth/internal/controller/garbagecollector"
	"github.com/berth/berth/internal/controller/namespace"
	"github.com/berth/berth/internal/controller/nodeipam"
	"github.com/berth/berth/internal/controller/nodelifecycle"
	"github.com/berth/berth/internal/controller/replicaset"
	"github.com/berth/berth/internal/controller/serviceaccount"
	"github.com/berth/berth/internal/scheduler"
)

// loopConstructors lists the control loops run by the leader: every controller and the
// scheduler. Each builds its loop (and asks for its informers) from the shared Context.
var loopConstructors = []func(*controller.Context) (controller.Runnable, error){
	// One line per loop, e.g. replicaset.New,
	scheduler.New,
	replicaset.New,
	deployment.New,
	replicaset.NewReplicationController,
	garbagecollector.New,
	namespace.New,
	endpointslice.New,
	endpointslice.NewEndpoints,
	endpointslice.NewAPIServerEndpoints,
	nodeipam.New,
	nodelifecycle.New,
	serviceaccount.New,
	serviceaccount.NewTokens,
	disruption.New,
}

// buildControllers builds the loops of one leadership term.
func buildControllers(cc *controller.Context) ([]controller.Runnable, error) {
	loops := make([]controller.Runnable, 0, len(loopConstructors))
	for i, construct := range loopConstructors {
		loop, err := construct(cc)
		if err != nil {
			return nil, fmt.Errorf("controller %d: %w", i, err)
		}
		loops = append(loops, loop)
	}
	return loops, nil
}
