package etcd

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog returns a zap logger that forwards entries at minLevel and above to logger, so
// etcd's own logging lands in the process's structured log instead of stderr. Once
// stopping is set, the errors etcd logs for its own listeners closing are dropped.
func zapToSlog(logger *slog.Logger, minLevel zapcore.Level, stopping *atomic.Bool) *zap.Logger {
	if logger == nil {
		return zap.NewNop()
	}
	if stopping == nil {
		stopping = new(atomic.Bool)
	}
	return zap.New(&slogCore{logger: logger, minLevel: minLevel, stopping: stopping})
}

// shutdownNoise is what embedded etcd logs at error level for every listener it closes.
const shutdownNoise = "setting up serving from embedded etcd failed."

// isStartupNoise matches the error a fresh member logs when its storage-version monitor
// runs before the first raft term is persisted; the monitor retries and succeeds.
func isStartupNoise(entry zapcore.Entry, fields []zapcore.Field) bool {
	if entry.Message != "failed to update storage version" {
		return false
	}
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && strings.Contains(err.Error(), "missing term information") {
			return true
		}
	}
	return false
}

type slogCore struct {
	logger   *slog.Logger
	minLevel zapcore.Level
	stopping *atomic.Bool
	fields   []zapcore.Field
}

func (c *slogCore) Enabled(level zapcore.Level) bool { return level >= c.minLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	merged := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	merged = append(append(merged, c.fields...), fields...)
	return &slogCore{logger: c.logger, minLevel: c.minLevel, stopping: c.stopping, fields: merged}
}

func (c *slogCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(entry.Level) && !(c.stopping.Load() && entry.Message == shutdownNoise) {
		return checked.AddCore(entry, c)
	}
	return checked
}

func (c *slogCore) Write(entry zapcore.Entry, fields []zapcore.Field) error {
	if isStartupNoise(entry, fields) {
		return nil
	}
	encoder := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(encoder)
	}
	for _, f := range fields {
		f.AddTo(encoder)
	}
	attrs := make([]slog.Attr, 0, len(encoder.Fields)+1)
	if entry.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", entry.LoggerName))
	}
	for k, v := range encoder.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	c.logger.LogAttrs(context.Background(), slogLevel(entry.Level), entry.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(level zapcore.Level) slog.Level {
	switch {
	case level >= zapcore.ErrorLevel:
		return slog.LevelError
	case level >= zapcore.WarnLevel:
		return slog.LevelWarn
	case level >= zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
