// Package session speaks the AWS Systems Manager Session Manager data
// channel (docs: ssm-protocol.md) in-process: no session-manager-plugin.
//
// # Layers
//
// Package session/wire is the frame codec and the JSON payloads.
//
// [Stream] is the reliable, sequenced message stream of one data channel,
// role-agnostic: the client uses it with [RoleClient] and the sandbox's
// built-in agent with [RoleAgent]. It owns sequence numbers, acks (every
// stream message, duplicates re-acked), the bounded reorder buffer,
// retransmission (RTO per §6.2 on a 100 ms tick), a window of unacked bytes
// (Send blocks when full), pause/start_publication, an inbound cap (a
// stalled Recv stops the stream reading its transport), and channel_closed
// (Recv drains, then io.EOF; Err is a *ChannelClosedError with Output). The
// transport is a [FrameConn] (one binary WebSocket message per frame;
// [NewWebSocketFrameConn] adapts gorilla). Attach it; when it fails the
// stream calls StreamConfig.OnDetach and keeps its state; Attach a new
// transport to resume (unacked messages are resent), or Fail/Close it.
//
// Agent-side use, in short:
//
//	st := session.NewStream(session.StreamConfig{Role: session.RoleAgent})
//	st.Attach(session.NewWebSocketFrameConn(ws, 0)) // after the open frame
//	st.Send(ctx, wire.PayloadHandshakeRequest, req)  // output_stream_data, seq 0, SYN
//	pt, p, err := st.Recv(ctx)                        // client input in order
//
// # Client
//
// [Dial] starts an AWS-StartSSHSession session (StartSession through
// aws-sdk-go-v2), dials the StreamUrl verbatim, sends the open frame,
// answers the handshake with [ClientVersion] and returns a [*Conn], a full
// net.Conn carrying the remote port's bytes; Close sends the
// TerminateSession flag and calls the TerminateSession API. [DialSession]
// does the same for a session someone else started. A lost WebSocket is
// resumed (ResumeSession, redial, same sequence state) for up to
// DialOptions.ResumeTimeout, then the Conn fails with *ResumeError.
// [OpenPortForward] gives a [*PortSession] (smux or basic mode, chosen by
// the version rules of §13) whose DialStream opens one forwarded
// connection; [OpenShell] gives a [*ShellSession] for plain shell
// documents.
//
// # KMS encryption
//
// When the account's Session Manager preferences name a KMS key, the agent
// of a shell session asks for KMS encryption in its handshake (§7, §8).
// OpenShell then calls KMS GenerateDataKey (64 bytes, encryption context
// aws:ssm:SessionId and aws:ssm:TargetId, plus aws:ssm:RandomChallenge when
// the agent offers a Challenge, which is acknowledged) with
// DialOptions.KMS, by default a client built from the aws.Config; the
// caller needs kms:GenerateDataKey, the instance role kms:Decrypt. The
// stream's [PayloadCipher] then seals Output with Plaintext[32:64] and
// opens the agent's Output/StdErr/ExitCode with Plaintext[0:32]
// (AES-256-GCM, nonce||ciphertext||tag), and the agent's encryption
// challenge is answered. Failures: *KMSError (errors.Is ErrAccessDenied
// for AccessDenied), *ChallengeError, and *DecryptError for a payload that
// fails authentication later (the session is closed, nothing of it is
// returned). Port sessions are never encrypted: an agent asking for it
// there gets ErrEncryptionUnsupported.
//
// Secrets — TokenValue, the StreamUrl query — are never logged.
package session
