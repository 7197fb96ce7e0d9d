package mqtt

import (
	"encoding/json"
	"sort"
	"time"
)

// Disconnected client notifications (TopicPolicy
// DisconnectedClientNotification, as MessageSight has them). When messages
// arrive for a subscription of an offline persistent session whose
// authorizing TopicPolicy asks for it, the engine counts them per topic and,
// once per Limits.NotificationInterval, publishes one notice per such
// session to NotificationTopic:
//
//	{"ClientId":"dev1","UserId":"alice",
//	 "MessagesArrived":[{"TopicString":"alerts/a","MessageCount":3}]}
//
// at QoS 1, not retained, like a publish from the server. An application
// subscribes to the topic (a TopicPolicy must allow it) to wake devices by
// other means. A session's counts are dropped when it reconnects. Counts
// live in memory: a restart forgets the ones not yet published.

// NotificationTopic is where disconnected client notifications go.
const NotificationTopic = "$SYS/DisconnectedClientNotification"

// maxNotifyTopics bounds the topics counted per offline session; arrivals
// on further topics still count in the notice's last entry.
const maxNotifyTopics = 100

// noteArrivalLocked counts a message for an offline session's notifying
// subscription.
func (e *Engine) noteArrivalLocked(s *session, topic string) {
	if s.arrived == nil {
		s.arrived = make(map[string]int)
	}
	if _, ok := s.arrived[topic]; !ok && len(s.arrived) >= maxNotifyTopics {
		topic = "*"
	}
	s.arrived[topic]++
	e.mu.notifyPending[s] = struct{}{}
}

// notice is the JSON body of a disconnected client notification.
type notice struct {
	ClientID        string          `json:"ClientId"`
	UserID          string          `json:"UserId"`
	MessagesArrived []noticeArrival `json:"MessagesArrived"`
}

type noticeArrival struct {
	TopicString  string `json:"TopicString"`
	MessageCount int    `json:"MessageCount"`
}

// publishNotificationsLocked publishes the pending notices.
func (e *Engine) publishNotificationsLocked() {
	now := e.now()
	for s := range e.mu.notifyPending {
		delete(e.mu.notifyPending, s)
		if s.conn != nil || s.destroyed || len(s.arrived) == 0 {
			s.arrived = nil
			continue
		}
		n := notice{ClientID: s.clientID, UserID: s.userID}
		for t, c := range s.arrived {
			n.MessagesArrived = append(n.MessagesArrived, noticeArrival{t, c})
		}
		sort.Slice(n.MessagesArrived, func(i, j int) bool { return n.MessagesArrived[i].TopicString < n.MessagesArrived[j].TopicString })
		s.arrived = nil
		body, err := json.Marshal(n)
		if err != nil {
			continue
		}
		m := &message{topic: NotificationTopic, payload: body, qos: 1, created: now}
		e.publishServerMessageLocked(m, nil)
	}
}

// runNotifications publishes pending notices every interval until done.
func (e *Engine) runNotifications(interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			e.mu.Lock()
			if !e.mu.closed && len(e.mu.notifyPending) > 0 {
				e.publishNotificationsLocked()
			}
			e.mu.Unlock()
		}
	}
}
