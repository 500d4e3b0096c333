require "logger"
require "active_record"
require "delayed_job"
require "delayed_job_active_record"
require "active_record/connection_adapters/sqlite3_adapter"
require "middle_management/store"

# The demo's job table: SQLite in WAL mode, so the app and ten worker
# processes can share it; and Middle Management's coordination table
# (`store: false` leaves it out: each process then decides alone).
module DemoDatabase
  # SQLite's own busy wait holds Ruby's GVL: a thread waiting for the write
  # lock stops the very thread of this process that holds it (ten worker
  # threads on one file, say) until the timeout fails one of them. Wait in
  # Ruby instead, as the gem's store does for itself.
  module YieldingBusyWait
    private

    def configure_connection
      super
      timeout = Integer(@config.fetch(:timeout, 5_000))
      @connection.busy_handler { |tries| tries * 5 < timeout && sleep(0.005) }
    end
  end
  ActiveRecord::ConnectionAdapters::SQLite3Adapter.prepend(YieldingBusyWait)

  module_function

  def connect(path, create: false, pool: 5, store: true)
    ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: path, timeout: 15_000, pool: pool)
    ActiveRecord::Base.logger = nil
    ActiveRecord::Base.connection.execute("PRAGMA journal_mode=WAL")
    create_tables(store: store) if create
    Delayed::Worker.logger = Logger.new(nil)
  end

  def create_tables(store: true)
    ActiveRecord::Migration.verbose = false
    define_tables(ActiveRecord::Base, store: store)
  end

  # Delayed Job's table (its own migration's) and, with `store`, the
  # coordination store's, in `model`'s database (SQLite, PostgreSQL, …).
  def define_tables(model, store: true)
    conn = model.connection
    conn.create_table :delayed_jobs, force: true do |t|
      t.integer :priority, default: 0, null: false
      t.integer :attempts, default: 0, null: false
      t.text :handler, null: false
      t.text :last_error
      t.datetime :run_at
      t.datetime :locked_at
      t.datetime :failed_at
      t.string :locked_by
      t.string :queue
      t.timestamps null: true
    end
    conn.add_index :delayed_jobs, %i[priority run_at], name: "delayed_jobs_priority"
    MiddleManagement::Store::SQL.new(model).install if store
  end
end
