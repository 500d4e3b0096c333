require "fileutils"
require "tmpdir"

# Solid Queue's tables (SolidQueueSchema) in a queue database apart from
# the primary, as Rails 8 configures it (`connects_to database: { writing:
# :queue }`): an abstract class standing in for SolidQueue::Record, with a
# connection of its own, while ActiveRecord::Base points at the primary
# (DelayedJobDatabase's SQLite file). The coordination store's tables are
# installed in the queue database, as an app puts them there with a
# migration in db/queue_migrate. The examples read `queue_record` and
# `rows` (SolidQueueRows); each starts on empty tables.
module SolidQueueDatabase
  module_function

  def record_class(label, config)
    record = Class.new(ActiveRecord::Base) do
      self.abstract_class = true
      define_singleton_method(:name) { "#{label}QueueRecord" }
    end
    record.establish_connection(config)
    record
  end

  def prepare(record)
    SolidQueueSchema.define(record)
    MiddleManagement::Store::SQL.new(record).install
    SolidQueueRows.new(record)
  end

  # A second database on the throwaway PostgreSQL server.
  def create_postgres_database(server, name)
    conn = PG.connect(host: "127.0.0.1", port: server.port, user: PostgresServer::USER, dbname: PostgresServer::DATABASE)
    conn.exec("CREATE DATABASE #{conn.escape_identifier(name)}")
    server.config(pool: 5).merge(database: name)
  ensure
    conn&.close
  end
end

if defined?(RSpec)
  RSpec.shared_context "a solid queue database" do
    attr_reader :queue_record, :rows

    before do
      next unless queue_record # its server is not installed: skipped

      rows.clear # a new app: an empty queue, no worker heard from, no decision made
      %w[middle_management_workers middle_management_pools].each { |t| queue_record.connection.execute("DELETE FROM #{t}") }
    end
    after(:context) { @queue_record&.remove_connection }
  end

  RSpec.shared_context "a solid queue database on SQLite" do
    include_context "a solid queue database"

    before(:context) do
      DelayedJobDatabase.connect
      @queue_dir = Dir.mktmpdir("middle_management-solid_queue")
      @queue_record = SolidQueueDatabase.record_class("SQLite", adapter: "sqlite3", pool: 5, timeout: 5_000,
                                                                database: File.join(@queue_dir, "queue.sqlite3"))
      @queue_record.connection.execute("PRAGMA journal_mode=WAL") # counts read while the example writes
      @rows = SolidQueueDatabase.prepare(@queue_record)
    end
    after(:context) { FileUtils.remove_entry(@queue_dir) if @queue_dir }
  end

  RSpec.shared_context "a solid queue database on PostgreSQL" do
    include_context "a postgres server"
    include_context "a solid queue database"

    before(:context) do
      next unless postgres_server

      DelayedJobDatabase.connect
      config = SolidQueueDatabase.create_postgres_database(postgres_server, "solid_queue_queue")
      @queue_record = SolidQueueDatabase.record_class("Postgres", config)
      @rows = SolidQueueDatabase.prepare(@queue_record)
    end
  end
end
