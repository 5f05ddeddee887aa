package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"time"

	"github.com/alerter/alerter/storage"
	alerterweb "github.com/alerter/alerter/web"
)

// Replicas sharing a database announce themselves there: every
// heartbeatInterval; a replica not heard from for peerTimeout is not a
// peer any more, and its row is deleted after peerForget.
const (
	heartbeatInterval = 2 * time.Second
	peerTimeout       = 10 * time.Second
	peerForget        = time.Hour
)

// membership is this process's entry among the replicas of a shared
// database, and its view of the others.
type membership struct {
	db     *storage.DB
	self   storage.Replica
	logger *slog.Logger
}

func newMembership(db *storage.DB, address string, logger *slog.Logger) *membership {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "alerter"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	now := time.Now()
	return &membership{db: db, logger: logger,
		self: storage.Replica{ID: host + "-" + hex.EncodeToString(b), Address: address, StartedAt: now, SeenAt: now}}
}

// run heartbeats until ctx ends, then leaves.
func (m *membership) run(ctx context.Context) {
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	failing := false
	for {
		m.self.SeenAt = time.Now()
		err := m.db.Heartbeat(ctx, m.self, m.self.SeenAt.Add(-peerForget))
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			m.logger.Error("Heartbeat to the shared database failed", "err", err)
		case err == nil && failing:
			failing = false
			m.logger.Info("Heartbeat to the shared database works again")
		}
		select {
		case <-ctx.Done():
			leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := m.db.Leave(leaveCtx, m.self.ID); err != nil {
				m.logger.Warn("Leaving the shared database failed; the others drop this replica when its heartbeat times out", "err", err)
			}
			return
		case <-t.C:
		}
	}
}

// cluster answers the web's question: this replica's name and the live
// replicas (itself included), as Alertmanager's cluster status lists them.
func (m *membership) cluster(ctx context.Context) (string, []alerterweb.Peer, error) {
	now := time.Now()
	rs, err := m.db.Replicas(ctx, now.Add(-peerTimeout))
	if err != nil {
		return m.self.ID, nil, err
	}
	peers := make([]alerterweb.Peer, 0, len(rs))
	for _, r := range rs {
		peers = append(peers, alerterweb.Peer{Name: r.ID, Address: r.Address})
	}
	return m.self.ID, peers, nil
}
