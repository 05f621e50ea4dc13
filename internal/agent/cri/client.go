package cri

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Defaults, as the kubelet uses them.
const (
	DefaultTimeout = 2 * time.Minute
	maxMessageSize = 16 << 20
)

// Options tune a Client.
type Options struct {
	// Timeout bounds each call that has no tighter deadline in its context (0: DefaultTimeout).
	Timeout time.Duration
	// PullTimeout bounds PullImage (0: only the caller's context bounds it; pulls of big
	// images take long, and the caller knows how long it is willing to wait).
	PullTimeout time.Duration
}

// Client calls a CRI runtime and image service over one gRPC connection.
type Client struct {
	conn    *grpc.ClientConn
	runtime runtimeapi.RuntimeServiceClient
	images  runtimeapi.ImageServiceClient
	opts    Options
}

// New makes a client for the CRI server listening on the unix socket at socketPath. It
// does not connect: the first call does, so a runtime that is still starting is fine.
func New(socketPath string, opts Options) (*Client, error) {
	if socketPath == "" {
		return nil, errors.New("cri: empty socket path")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	target := "unix://" + socketPath
	if !strings.HasPrefix(socketPath, "/") {
		target = "unix:" + socketPath
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
		// The runtime is local and restarts in well under a second; gRPC's default
		// reconnect backoff (up to 2 minutes) would leave the agent blind long after.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cri: connect %s: %w", socketPath, err)
	}
	return &Client{
		conn:    conn,
		runtime: runtimeapi.NewRuntimeServiceClient(conn),
		images:  runtimeapi.NewImageServiceClient(conn),
		opts:    opts,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// call bounds ctx by timeout (the caller's earlier deadline wins).
func (c *Client) call(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

// wrap names the call (and the object) in err, keeping its gRPC status reachable.
func wrap(err error, op, id string) error {
	if err == nil {
		return nil
	}
	if id != "" {
		return &Error{Op: op, ID: id, Err: err}
	}
	return &Error{Op: op, Err: err}
}

// Error is a failed CRI call.
type Error struct {
	Op  string // the CRI method, e.g. "RunPodSandbox"
	ID  string // the sandbox, container or image it was about, if any
	Err error
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	if s, ok := status.FromError(e.Err); ok {
		msg = s.Code().String() + ": " + s.Message()
	}
	if e.ID != "" {
		return fmt.Sprintf("cri %s %s: %s", e.Op, e.ID, msg)
	}
	return fmt.Sprintf("cri %s: %s", e.Op, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// GRPCStatus lets status.FromError and status.Code see through the wrapping.
func (e *Error) GRPCStatus() *status.Status {
	s, _ := status.FromError(e.Err)
	return s
}

// Code is the gRPC code of err (codes.OK for nil, codes.Unknown for non-gRPC errors).
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	if errors.As(err, &withStatus) {
		if s := withStatus.GRPCStatus(); s != nil {
			return s.Code()
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// IsNotFound reports whether the runtime said the object does not exist.
func IsNotFound(err error) bool { return Code(err) == codes.NotFound }

// IsUnavailable reports whether the runtime could not be reached (not running, restarting).
func IsUnavailable(err error) bool { return Code(err) == codes.Unavailable }
