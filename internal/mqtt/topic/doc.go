// Package topic validates MQTT topic names and topic filters, parses shared
// subscriptions, matches published topic names against subscriptions with a
// Trie, and finds the names of a set (Names) that a filter matches.
//
// It implements MQTT 3.1.1 §4.7 and MQTT 5.0 §4.7 and §4.8; comments and tests
// cite the normative statement ids ([MQTT-4.7.1-1] ...). Where the two
// versions number the same rule differently both ids are given. The package is
// pure: no I/O and nothing else of ours is imported.
//
// # Topic strings
//
// A topic name (PUBLISH) or topic filter (SUBSCRIBE) is a UTF-8 string of at
// most 65535 bytes split into levels by '/':
//
//	"sport/tennis/player1"   levels: "sport" "tennis" "player1"
//	"/finance"               levels: ""  "finance"        (empty levels are real levels)
//	"a//b"                   levels: "a" "" "b"
//
// Filters may use '+' (exactly one whole level) and '#' (alone in the last
// level; matches the parent level and any number of levels below it, so
// "sport/#" matches "sport"). Names never contain wildcards.
//
// A filter beginning with a wildcard never matches a name beginning with '$'
// ([MQTT-4.7.2-1]): "#" and "+/info" do not match "$SYS/info"; "$SYS/#" does.
//
// # Shared subscriptions
//
// Two spellings are parsed into the same Subscription value:
//
//	$share/<ShareName>/<filter>               MQTT 5.0 §4.8.2 (also accepted from 3.1.1 clients)
//	$SharedSubscription/<SubName>/<filter>    IBM MessageSight / Eclipse Amlen form
//
// ShareName must be non-empty and must not contain '/', '+' or '#'
// ([MQTT-4.8.2-1], [MQTT-4.8.2-2]); the filter after it must be a valid,
// non-empty topic filter. The two forms are distinct namespaces: a group is
// identified by (form, name, filter), so "$share/g/a" and
// "$SharedSubscription/g/a" are two groups.
//
// # Trie
//
// Trie maps filters to subscribers. Match reports ordinary subscribers one by
// one and shared subscriptions as groups, leaving the choice of one member
// per group to the caller. Trie is safe for concurrent use (an internal
// RWMutex; Match takes the read lock); see Trie for what results alias.
//
// # Names
//
// Names is the reverse: a set of topic names (the retained messages) in a
// tree of levels, which finds the names a filter matches by walking the
// filter, so a filter costs what it can match and not the size of the set.
// Its owner guards it.
package topic
