//! This project's migrations, on SQLite (in memory) and on PostgreSQL and MySQL when
//! `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` are set. Copied projects inherit these tests.

use chainkit::testing::{assert_entities_match, assert_round_trip, migrated_databases};
use ext_template::entities::{request, request_item};
use ext_template_migration::{NAMESPACE, registry};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, ModelTrait, Set};

#[test]
fn the_chain_satisfies_the_namespace_and_scope_rules() {
    let registry = registry().expect("the chain breaks a rule");
    assert_eq!(registry.namespaces(), ["engine", NAMESPACE]);
}

#[tokio::test]
async fn migrations_round_trip_up_down_up() {
    let registry = registry().unwrap();
    for db in migrated_databases(&registry, NAMESPACE).await {
        assert_round_trip(&db.db, &registry, NAMESPACE).await;
        db.close().await;
    }
}

#[tokio::test]
async fn entities_and_migrations_agree() {
    assert_entities_match(&registry().unwrap(), NAMESPACE).await;
}

#[tokio::test]
async fn entities_match_the_migrated_tables() {
    let registry = registry().unwrap();
    for db in migrated_databases(&registry, NAMESPACE).await {
        let conn = &db.db;
        conn.execute_unprepared(
            "INSERT INTO workflow_instances (id, definition_key, state, created_at) \
             VALUES (1, 'purchase', 'running', '2026-01-01 00:00:00')",
        )
        .await
        .unwrap();
        let now = chrono::Utc::now();
        let req = request::ActiveModel {
            workflow_instance_id: Set(1),
            title: Set("laptops".into()),
            status: Set("open".into()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", db.backend));
        request_item::ActiveModel {
            request_id: Set(req.id),
            description: Set("14 inch".into()),
            quantity: Set(3),
            ..Default::default()
        }
        .insert(conn)
        .await
        .unwrap();
        let items = req
            .find_related(request_item::Entity)
            .all(conn)
            .await
            .unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].quantity, 3);
        assert_eq!(request::Entity::find().all(conn).await.unwrap().len(), 1);
        db.close().await;
    }
}
