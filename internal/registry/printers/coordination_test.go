package printers

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var leasesGR = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func TestLeaseColumnsAndRows(t *testing.T) {
	assertColumns(t, leasesGR, []col{{"Name", "string", 0}, {"Holder", "string", 0}, {"Age", "string", 0}})

	held := &coordinationv1.Lease{ObjectMeta: objectMeta("node-1", time.Minute), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}}
	assertCells(t, printRow(t, leasesGR, held).Cells, []interface{}{"node-1", "node-1", "60s"})
	free := &coordinationv1.Lease{ObjectMeta: objectMeta("berth-scheduler", 0)}
	assertCells(t, printRow(t, leasesGR, free).Cells, []interface{}{"berth-scheduler", "", "0s"})
}
