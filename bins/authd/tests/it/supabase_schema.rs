//! The database side of Supabase compatibility (issue 21): a typical Supabase quick-start schema
//! applied unchanged to authd's PostgreSQL database. A `public.profiles` table references
//! `auth.users(id)` with a cascading delete, a trigger after insert on `auth.users` copies
//! `raw_user_meta_data ->> 'full_name'` (and `raw_app_meta_data ->> 'provider'`, `email`), and
//! row-level policies read `auth.uid()` and `auth.jwt() ->> 'email'`. Sign-up, update and
//! deletion go through authd's API; reads and writes of the application's tables are replayed
//! as PostgREST makes them (see `postgrest.rs`).

use auth_testkit::postgres::test_database;
use serde_json::json;

use crate::postgrest::{connect, connect_as, ensure_authenticator, postgrest};
use crate::process::{PASSWORD, Server, access_token, authd, json_output, ok, run};

/// What a Supabase project's first migration typically holds, written for this test.
const QUICK_START: &str = r#"
CREATE TABLE public.profiles (
    id         uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    full_name  text,
    email      text,
    provider   text,
    website    text
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "profiles are readable by all" ON public.profiles FOR SELECT USING (true);
CREATE POLICY "users change their own profile" ON public.profiles
    FOR UPDATE USING ((SELECT auth.uid()) = id) WITH CHECK ((SELECT auth.uid()) = id);
GRANT SELECT, UPDATE ON public.profiles TO anon, authenticated;

CREATE FUNCTION public.handle_new_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    INSERT INTO public.profiles (id, full_name, email, provider)
    VALUES (new.id, new.raw_user_meta_data ->> 'full_name', new.email, new.raw_app_meta_data ->> 'provider');
    RETURN new;
END
$$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
    FOR EACH ROW EXECUTE PROCEDURE public.handle_new_user();

CREATE TABLE public.invitations (
    email text NOT NULL,
    team  text NOT NULL
);
ALTER TABLE public.invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY "invitations to my address" ON public.invitations
    FOR SELECT TO authenticated USING ((SELECT auth.jwt() ->> 'email') = email);
GRANT SELECT ON public.invitations TO authenticated;
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_supabase_quick_start_schema_works_unchanged() {
    let Some(db) = test_database("supabase_schema").await else { return };
    let admin = connect(db.url()).await;
    ensure_authenticator(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = authd(dir.path());
    command
        .env("AUTHD_DATABASE__URL", db.url())
        .env("AUTHD_SIGNUP__AUTOCONFIRM", "true")
        .env("AUTHD_POSTGREST__MANAGE_ROLES", "true");
    let url = db.url().to_owned();
    let server = tokio::task::spawn_blocking(move || Server::start(command)).await.unwrap();
    admin.batch_execute(QUICK_START).await.unwrap();
    let api = json_output(&run(authd(dir.path()).env("AUTHD_DATABASE__URL", &url).args(["keys", "api", "--json"])));
    let service_key = api["service_role_key"].as_str().unwrap().to_owned();

    // Sign-up through the API: the trigger made each profile from the new row.
    let sign_up = |email: &str, name: &str| {
        ok(server.post("/signup", json!({"email": email, "password": PASSWORD, "data": {"full_name": name}})))
    };
    let ada = sign_up("ada@example.com", "Ada Lovelace");
    let bob = sign_up("bob@example.com", "Bob Bobson");
    let (ada_id, bob_id) = (ada["user"]["id"].as_str().unwrap(), bob["user"]["id"].as_str().unwrap());
    let profile = admin
        .query_one("SELECT full_name, email, provider FROM public.profiles WHERE id = $1::text::uuid", &[&ada_id])
        .await
        .unwrap();
    let row: (String, String, String) = (profile.get(0), profile.get(1), profile.get(2));
    assert_eq!(row, ("Ada Lovelace".into(), "ada@example.com".into(), "email".into()));

    // Policies on auth.uid(): Ada updates her profile and not Bob's.
    let mut pgrst = connect_as(&url, "authenticator").await;
    let ada_token = access_token(&ada);
    let update = |id: &str| format!("UPDATE public.profiles SET website = 'https://ada.example' WHERE id = '{id}'");
    postgrest(&mut pgrst, Some(&ada_token), "anon", &update(ada_id)).await.unwrap();
    postgrest(&mut pgrst, Some(&ada_token), "anon", &update(bob_id)).await.unwrap();
    let websites = admin.query("SELECT website FROM public.profiles WHERE website IS NOT NULL", &[]).await.unwrap();
    assert_eq!(websites.len(), 1, "only her own row changed");
    let everyone = postgrest(&mut pgrst, None, "anon", "SELECT count(*) FROM public.profiles").await.unwrap();
    assert_eq!(everyone[0].get::<_, i64>(0), 2, "profiles are public");

    // Policies on auth.jwt() ->> 'email', and the other claim helpers.
    admin
        .batch_execute("INSERT INTO public.invitations VALUES ('ada@example.com', 'engines'), ('bob@example.com', 'x')")
        .await
        .unwrap();
    let mine = postgrest(&mut pgrst, Some(&ada_token), "anon", "SELECT team FROM public.invitations").await.unwrap();
    assert_eq!(mine.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>(), ["engines"]);
    let helpers = "SELECT auth.uid()::text, auth.role(), auth.email()";
    let me = postgrest(&mut pgrst, Some(&ada_token), "anon", helpers).await.unwrap();
    let me: (String, String, String) = (me[0].get(0), me[0].get(1), me[0].get(2));
    assert_eq!(me, (ada_id.to_owned(), "authenticated".to_owned(), "ada@example.com".to_owned()));

    // Updating through the API lands in the columns a trigger or a query reads.
    let (status, _) =
        server.call("PUT", "/user", Some(json!({"data": {"full_name": "Augusta Ada King"}})), Some(&ada_token));
    assert_eq!(status, 200);
    let name: String = admin
        .query_one("SELECT raw_user_meta_data ->> 'full_name' FROM auth.users WHERE id = $1::text::uuid", &[&ada_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "Augusta Ada King");

    // Deleting: the profile goes with the user (ON DELETE CASCADE); a soft deletion keeps both.
    let (status, _) = server.call("DELETE", &format!("/admin/users/{bob_id}"), None, Some(&service_key));
    assert_eq!(status, 200);
    let count = |id: &str| {
        let admin = &admin;
        let id = id.to_owned();
        async move {
            let row = admin.query_one("SELECT count(*) FROM public.profiles WHERE id = $1::text::uuid", &[&id]).await;
            row.unwrap().get::<_, i64>(0)
        }
    };
    assert_eq!(count(bob_id).await, 0);
    let soft = json!({"should_soft_delete": true});
    let (status, _) = server.call("DELETE", &format!("/admin/users/{ada_id}"), Some(soft), Some(&service_key));
    assert_eq!(status, 200);
    assert_eq!(count(ada_id).await, 1, "a soft deletion keeps the row, so rows referring to it stay");
    let gone = admin
        .query_one(
            "SELECT email IS NULL AND deleted_at IS NOT NULL FROM auth.users WHERE id = $1::text::uuid",
            &[&ada_id],
        )
        .await
        .unwrap();
    assert!(gone.get::<_, bool>(0));
    let refused = postgrest(&mut pgrst, Some(&ada_token), "anon", "SELECT 1").await.unwrap_err();
    assert_eq!(refused.0, "PT401", "her sessions are gone");
}
