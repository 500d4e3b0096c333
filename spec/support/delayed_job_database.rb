# Real Delayed Job on ActiveRecord and SQLite, with the table its generator makes.
require "tmpdir"
require "logger"
require "active_record"
require "delayed_job"
require "delayed_job_active_record"

module DelayedJobDatabase
  module_function

  def connect(path = File.join(Dir.mktmpdir("middle_management"), "jobs.sqlite3"))
    ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: path, pool: 20)
    ActiveRecord::Base.logger = nil
    ActiveRecord::Migration.verbose = false
    create_table
    Delayed::Worker.logger = Logger.new(nil)
    Delayed::Worker.sleep_delay = 0.05
    Delayed::Worker.max_attempts = 2
    path
  end

  def create_table
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
