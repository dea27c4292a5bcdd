//! The `wireguard` generic netlink family: reading a device (`WG_CMD_GET_DEVICE`, a dump)
//! and changing it (`WG_CMD_SET_DEVICE`, one acknowledged message after another).

use futures_util::StreamExt;
use genetlink::GenetlinkError;
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;
use netlink_packet_wireguard::{WireguardAttribute, WireguardCmd, WireguardMessage};
use std::io;
use wiregate_netconf::blocking;

fn genl_error(e: GenetlinkError) -> io::Error {
    match e {
        GenetlinkError::NetlinkError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Sends `message` with `flags` and collects the answers; a netlink error answer is the
/// error.
async fn request(
    handle: &mut genetlink::GenetlinkHandle,
    message: WireguardMessage,
    flags: u16,
) -> io::Result<Vec<WireguardMessage>> {
    let mut request = NetlinkMessage::from(GenlMessage::from_payload(message));
    request.header.flags = NLM_F_REQUEST | flags;
    let mut answers = handle.request(request).await.map_err(genl_error)?;
    let mut out = Vec::new();
    while let Some(answer) = answers.next().await {
        let answer = answer.map_err(|e| io::Error::other(e.to_string()))?;
        match answer.payload {
            NetlinkPayload::InnerMessage(genl) => out.push(genl.payload),
            NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
            _ => {}
        }
    }
    Ok(out)
}

/// Runs `work` with a fresh generic netlink connection.
fn run<T: Send>(
    work: impl AsyncFnOnce(&mut genetlink::GenetlinkHandle) -> io::Result<T> + Send,
) -> io::Result<T> {
    blocking(|| async {
        let (connection, mut handle, _) = genetlink::new_connection()?;
        let task = tokio::spawn(connection);
        let result = work(&mut handle).await;
        task.abort();
        result
    })
}

/// The dump of device `name`, message by message.
pub fn get_device(name: &str) -> io::Result<Vec<WireguardMessage>> {
    let message = WireguardMessage {
        cmd: WireguardCmd::GetDevice,
        attributes: vec![WireguardAttribute::IfName(name.to_owned())],
    };
    run(async |h| request(h, message, NLM_F_DUMP).await)
}

/// Sends `messages` in order, each acknowledged before the next; stops at the first the
/// kernel refuses (those before it have taken effect, and a later pass repairs the rest).
pub fn set_device(messages: Vec<WireguardMessage>) -> io::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    run(async |h| {
        for message in messages {
            request(h, message, NLM_F_ACK).await?;
        }
        Ok(())
    })
}
