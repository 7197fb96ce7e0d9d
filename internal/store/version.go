package store

// FormatVersion is the store format this build writes and reads (the meta
// "format" record); `mqsight version` prints it.
const FormatVersion = formatVersion
