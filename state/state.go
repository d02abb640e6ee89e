// Package state keeps the hub's durable state (registrations, kept messages, resumable
// sessions) in one file across restarts.
//
// Guarantees: the file is replaced atomically (written to a temporary file in the same
// directory, fsynced, renamed over the old one, and the directory fsynced), so a crash at any
// moment leaves either the previous state or the new one, never a torn file. A saver writes at
// most once per interval and only when the hub changed, so a crash loses at most the changes of
// the last interval. A file that cannot be read or parsed is an error, never an empty state.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/pushinator/pushinator/push"
)

// format names the file's content, so that another file at the configured path is refused
// rather than read as an empty state.
const (
	format  = "pushinator-state"
	version = 1
)

// DefaultInterval is the longest a change waits before a save of it starts. The crash-loss
// window is that plus the time one snapshot takes to write (about 1 s for 70 MB).
const DefaultInterval = time.Second

type file struct {
	Format  string        `json:"format"`
	Version int           `json:"version"`
	State   push.Snapshot `json:"state"`
}

// Load reads the state file. A missing file is a first start: (nil, nil).
func Load(path string) (*push.Snapshot, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("state: %s: not a pushinator state file (%v)", path, err)
	}
	if f.Format != format {
		return nil, fmt.Errorf("state: %s: not a pushinator state file (format %q)", path, f.Format)
	}
	if f.Version != version {
		return nil, fmt.Errorf("state: %s: version %d, this pushinator reads version %d", path, f.Version, version)
	}
	return &f.State, nil
}

// Save writes snap to path atomically.
func Save(path string, snap push.Snapshot) error {
	data, err := json.Marshal(file{Format: format, Version: version, State: snap})
	if err != nil {
		return fmt.Errorf("state: encoding: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("state: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state: syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself survives a power cut only once the directory is synced
		d.Close()
	}
	return nil
}

// Saver writes the hub's state whenever it changed, at most once per interval.
type Saver struct {
	Path     string
	Hub      *push.Hub
	Interval time.Duration
	Logger   *slog.Logger

	saved uint64 // hub change count at the last save
}

// Run saves until ctx ends, then saves one last time; it returns the last save's error.
func (s *Saver) Run(ctx context.Context) error {
	interval := s.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return s.SaveNow()
		case <-t.C:
			err := s.saveIfChanged()
			switch {
			case err != nil && !failing:
				s.Logger.Error("state not saved; retrying every interval", "err", err)
			case err == nil && failing:
				s.Logger.Info("state saved again", "path", s.Path)
			}
			failing = err != nil
		}
	}
}

func (s *Saver) saveIfChanged() error {
	if s.Hub.Changes() == s.saved {
		return nil
	}
	return s.SaveNow()
}

// SaveNow saves at once.
func (s *Saver) SaveNow() error {
	n := s.Hub.Changes() // read first: a change during the save is saved next time
	if err := Save(s.Path, s.Hub.Snapshot()); err != nil {
		return err
	}
	s.saved = n
	return nil
}
