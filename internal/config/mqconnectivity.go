package config

// QueueManagerConnection describes how to reach an IBM MQ queue manager.
// ChannelUserPassword is a reversible secret (it is sent to the queue
// manager); it is kept in the document but never rendered by
// ObjectProperties nor shown in error text.
type QueueManagerConnection struct {
	Name                string
	QueueManagerName    string // at most 48 bytes
	ConnectionName      string // "host(port)" comma list
	ChannelName         string // at most 20 bytes
	SSLCipherSpec       string
	ChannelUserName     string
	ChannelUserPassword string
	Description         string
}

// DestinationMappingRule maps messages between mqsight and queue managers.
type DestinationMappingRule struct {
	Name                   string
	QueueManagerConnection List
	RuleType               int // 1-14
	Source                 string
	Destination            string
	MaxMessages            int
	Enabled                bool
	RetainedMessages       string // None, All
	Description            string
}

// Validate checks the connection on its own.
func (q *QueueManagerConnection) Validate() error { return validateObject(q).join() }

// Validate checks the rule on its own.
func (d *DestinationMappingRule) Validate() error { return validateObject(d).join() }
