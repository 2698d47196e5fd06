//! Black-box tests of the gateway: the real binary on a free loopback port,
//! spoken to over real WebSockets. One test binary for all of them (each
//! test binary links the whole crate).

mod audit;
mod faults;
mod lifecycle;
mod logs;
mod metrics;
mod support;

use std::time::Duration;

use breakglass::protocol::{AccessRequest, Event, Op, RequestState};
use support::{Gateway, ask, event_where};

#[tokio::test]
async fn an_approved_request_is_pushed_to_the_requester_and_grants_access() {
    let gw = Gateway::dev();
    let mut alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let mut reply = alice.call(ask("payments", 600)).await.unwrap();
    let request: AccessRequest = reply.take("request").unwrap();
    assert_eq!(request.state, RequestState::Pending);
    bob.call(Op::RequestApprove {
        request_id: request.id.clone(),
        comment: Some("go".into()),
        totp: None,
    })
    .await
    .unwrap();
    let approved = event_where(&mut alice, Duration::from_secs(5), |e| {
        matches!(&e.event, Event::RequestUpdated { request: r } if r.id == request.id && r.state == RequestState::Approved)
    })
    .await;
    assert!(approved.is_some(), "alice never heard of bob's approval");
}
