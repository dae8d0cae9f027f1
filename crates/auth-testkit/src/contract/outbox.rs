//! The contract of MailOutbox: leases, retries and concurrent claims.

use super::fixtures::*;

contract_cases! { $ outbox_contract_cases, outbox;
    /// Claims lease messages oldest first; a rescheduled message comes back when due with its
    /// attempts counted; sent and failed messages never come back.
    pub async fn outbox_leases_reschedules_and_wipes_bodies(store: Arc<impl Store>) {
        for (n, minutes) in [(1u32, 0i64), (2, 1), (3, 10)] {
            store
                .queue_mail(MailKind::ForgotUsername, &mail("kim@example.com", n), t0() + Duration::minutes(minutes))
                .await
                .unwrap();
        }
        let at = |m: i64| t0() + Duration::minutes(m);
        let claimed = store.claim_due_mail(at(2), at(7), 10).await.unwrap();
        assert_eq!(claimed.iter().map(|q| q.mail.subject.as_str()).collect::<Vec<_>>(), ["subject 1", "subject 2"]);
        assert_eq!(claimed[0].mail, mail("kim@example.com", 1));
        assert_eq!((claimed[0].kind, claimed[0].attempts, claimed[0].queued_at), (MailKind::ForgotUsername, 0, at(0)));
        assert!(store.claim_due_mail(at(3), at(8), 10).await.unwrap().is_empty(), "leased");

        store.mark_mail_sent(claimed[0].id, at(3)).await.unwrap();
        store.reschedule_mail(claimed[1].id, at(5), "421 try later").await.unwrap();
        let retried = store.claim_due_mail(at(6), at(9), 10).await.unwrap();
        assert_eq!(retried.iter().map(|q| (q.id, q.attempts)).collect::<Vec<_>>(), [(claimed[1].id, 1)]);
        store.mark_mail_failed(retried[0].id, at(6), "550 no such user").await.unwrap();

        let later = store.claim_due_mail(at(60), at(61), 10).await.unwrap();
        assert_eq!(
            later.iter().map(|q| q.mail.subject.as_str()).collect::<Vec<_>>(),
            ["subject 3"],
            "sent and failed stay out"
        );
        assert_eq!(store.claim_due_mail(at(120), at(121), 1).await.unwrap().len(), 1, "an expired lease is due again");
    }

    /// A text message queued with its secret waits in the same outbox as mail but is claimed
    /// only as a text message; the secret records the pending number on its user; sent, its
    /// text is erased like a mail's bodies.
    pub async fn text_messages_share_the_outbox_but_not_its_claims(store: Arc<impl Store>) {
        let mut sam = user(41, Some("sam@example.com"), None);
        sam.phone = Some(Phone::parse("15550004141").unwrap());
        store.create_user(&sam).await.unwrap();
        let new_number = Phone::parse("+15550004242").unwrap();
        let mut token = one_time(&sam, OneTimeKind::PhoneChange, "sms-link", t0());
        token.sent_to = Contact::Phone(new_number.clone());
        let sms = OutgoingSms {
            kind: OneTimeKind::PhoneChange,
            to: new_number.clone(),
            text: "Your code is 123456".into(),
            channel: SmsChannel::Whatsapp,
        };
        assert!(issue(&store, &token, Some(Outgoing::Sms(sms.clone()))).await.unwrap());
        store.queue_mail(MailKind::ForgotUsername, &mail("sam@example.com", 1), t0()).await.unwrap();

        let stored = store.find_user(sam.id).await.unwrap().unwrap();
        assert_eq!((stored.mail.phone_change, stored.mail.phone_change_sent_at), (Some(new_number.clone()), Some(t0())));
        let found = store.find_tokens_sent_to(&Contact::Phone(new_number), OneTimeKind::PhoneChange).await.unwrap();
        assert_eq!(found, vec![token]);

        let later = t0() + Duration::minutes(1);
        let mails = store.claim_due_mail(later, later + Duration::minutes(5), 10).await.unwrap();
        assert_eq!(mails.len(), 1, "the mail only");
        let texts = store.claim_due_sms(later, later + Duration::minutes(5), 10).await.unwrap();
        assert_eq!(texts.iter().map(|q| (&q.sms, q.attempts, q.queued_at)).collect::<Vec<_>>(), [(&sms, 0, t0())]);
        assert!(store.claim_due_sms(later, later, 10).await.unwrap().is_empty(), "leased");
        store.reschedule_mail(texts[0].id, later, "503 provider down").await.unwrap();
        let retried = store.claim_due_sms(later, later + Duration::minutes(5), 10).await.unwrap();
        assert_eq!(retried.iter().map(|q| q.attempts).collect::<Vec<_>>(), [1]);
        store.mark_mail_sent(retried[0].id, later).await.unwrap();
        assert!(store.claim_due_sms(later + Duration::hours(1), later + Duration::hours(2), 10).await.unwrap().is_empty());
    }

    /// Workers claiming at the same moment each get different messages.
    pub async fn concurrent_claims_never_share_a_message(store: Arc<impl Store>) {
        for n in 0..20 {
            store.queue_mail(MailKind::ForgotUsername, &mail("many@example.com", n), t0()).await.unwrap();
        }
        let claims = (0..4).map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_due_mail(t0(), t0() + Duration::minutes(5), 8).await })
        });
        let mut ids = Vec::new();
        for claim in claims {
            ids.extend(claim.await.unwrap().unwrap().into_iter().map(|q| q.id));
        }
        let total = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((ids.len(), total), (20, 20), "every message claimed exactly once");
    }

    /// Pruning deletes sent and failed messages older than the cut-off, in batches, and never
    /// one still waiting for delivery.
    pub async fn pruning_deletes_delivered_mail_only(store: Arc<impl Store>) {
        for n in 1..=4 {
            store.queue_mail(MailKind::Recovery, &mail("pat@example.com", n), t0()).await.unwrap();
        }
        let claimed = store.claim_due_mail(t0(), t0() + Duration::minutes(10), 3).await.unwrap();
        store.mark_mail_sent(claimed[0].id, t0()).await.unwrap();
        store.mark_mail_failed(claimed[1].id, t0(), "refused").await.unwrap();
        store.reschedule_mail(claimed[2].id, t0(), "busy").await.unwrap();
        let before = t0() + Duration::days(1);
        assert_eq!(store.prune_mail(before, 1).await.unwrap(), 1);
        assert_eq!(store.prune_mail(before, 10).await.unwrap(), 1);
        assert_eq!(store.prune_mail(before, 10).await.unwrap(), 0);
        assert_eq!(store.prune_mail(t0(), 10).await.unwrap(), 0, "nothing before the cut-off");
        let due = store.claim_due_mail(before, before + Duration::minutes(10), 10).await.unwrap();
        assert_eq!(due.len(), 2, "the waiting messages stay");
    }
}
