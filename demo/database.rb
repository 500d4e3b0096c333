require "logger"
require "active_record"
require "delayed_job"
require "delayed_job_active_record"

# The demo's job table: SQLite in WAL mode, so the app and ten worker
# processes can share it.
module DemoDatabase
  module_function

  def connect(path, create: false, pool: 5)
    ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: path, timeout: 15_000, pool: pool)
    ActiveRecord::Base.logger = nil
    ActiveRecord::Base.connection.execute("PRAGMA journal_mode=WAL")
    create_table if create
    Delayed::Worker.logger = Logger.new(nil)
  end

  def create_table
    ActiveRecord::Migration.verbose = false
    ActiveRecord::Schema.define do
      create_table :delayed_jobs, force: true do |t|
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
      add_index :delayed_jobs, %i[priority run_at], name: "delayed_jobs_priority"
    end
  end
end
