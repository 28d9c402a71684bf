package sandbox

// Owned by the gateway/agent work (issue #2): StartSession, ResumeSession,
// TerminateSession, DescribeSessions.
func (a *apiServer) registerSessionAPI() {}
