# Solid Queue's tables, for the Solid Queue adapter's specs. Solid Queue
# itself is not run here: it needs Ruby 3.2 and Rails 7.1, and this machine
# has Ruby 3.1 and Rails 6.1. So this schema is ours, written from the facts
# of Solid Queue's published queue_schema.rb at v1.5.0 (its install
# generator's db/queue_schema.rb): the tables the adapter reads, with their
# columns, nullability and indexes as published. Not here: the failed and
# recurring executions and the semaphores, which the adapter never reads.
# Rows are written as Solid Queue writes them by SolidQueueRows.
module SolidQueueSchema
  module_function

  # In `model`'s database (SQLite or PostgreSQL). `recurring: false` leaves
  # out solid_queue_recurring_tasks, as a database from before it had.
  def define(model, recurring: true)
    conn = model.connection
    ActiveRecord::Migration.verbose = false
    jobs(conn)
    executions(conn)
    processes(conn)
    recurring_tasks(conn) if recurring
  end

  def jobs(conn)
    conn.create_table :solid_queue_jobs, force: true do |t|
      t.string :queue_name, null: false
      t.string :class_name, null: false
      t.text :arguments
      t.integer :priority, default: 0, null: false
      t.string :active_job_id
      t.datetime :scheduled_at, :finished_at, precision: 6
      t.string :concurrency_key
      t.datetime :created_at, :updated_at, null: false, precision: 6
      t.index :active_job_id, name: "index_solid_queue_jobs_on_active_job_id"
      t.index :class_name, name: "index_solid_queue_jobs_on_class_name"
      t.index :finished_at, name: "index_solid_queue_jobs_on_finished_at"
      t.index %i[queue_name finished_at], name: "index_solid_queue_jobs_for_filtering"
      t.index %i[scheduled_at finished_at], name: "index_solid_queue_jobs_for_alerting"
    end
  end

  # [table, extra columns, indexes besides the unique one on job_id].
  EXECUTIONS = [
    ["solid_queue_ready_executions", [],
     { index_solid_queue_poll_all: %i[priority job_id], index_solid_queue_poll_by_queue: %i[queue_name priority job_id] }],
    ["solid_queue_scheduled_executions", [:scheduled_at],
     { index_solid_queue_dispatch_all: %i[scheduled_at priority job_id] }],
    ["solid_queue_blocked_executions", %i[concurrency_key expires_at],
     { index_solid_queue_blocked_executions_for_release: %i[concurrency_key priority job_id],
       index_solid_queue_blocked_executions_for_maintenance: %i[expires_at concurrency_key] }]
  ].freeze

  def executions(conn)
    EXECUTIONS.each do |table, columns, indexes|
      conn.create_table table, force: true do |t|
        t.bigint :job_id, null: false
        t.string :queue_name, null: false
        t.integer :priority, default: 0, null: false
        columns.each do |column|
          column == :concurrency_key ? t.string(column, null: false) : t.datetime(column, null: false, precision: 6)
        end
        t.datetime :created_at, null: false, precision: 6
        t.index :job_id, name: "index_#{table}_on_job_id", unique: true
        indexes.each { |name, index_columns| t.index index_columns, name: name.to_s }
        t.foreign_key :solid_queue_jobs, column: :job_id, on_delete: :cascade
      end
    end
    conn.create_table :solid_queue_claimed_executions, force: true do |t|
      t.bigint :job_id, null: false
      t.bigint :process_id # NULL allowed: Solid Queue fails such "orphaned" claims at a supervisor's boot
      t.datetime :created_at, null: false, precision: 6
      t.index :job_id, name: "index_solid_queue_claimed_executions_on_job_id", unique: true
      t.index %i[process_id job_id], name: "index_solid_queue_claimed_executions_on_process_id_and_job_id"
      t.foreign_key :solid_queue_jobs, column: :job_id, on_delete: :cascade
    end
    conn.create_table :solid_queue_pauses, force: true do |t|
      t.string :queue_name, null: false
      t.datetime :created_at, null: false, precision: 6
      t.index :queue_name, name: "index_solid_queue_pauses_on_queue_name", unique: true
    end
  end

  def processes(conn)
    conn.create_table :solid_queue_processes, force: true do |t|
      t.string :kind, null: false
      t.datetime :last_heartbeat_at, null: false, precision: 6
      t.bigint :supervisor_id
      t.integer :pid, null: false
      t.string :hostname
      t.text :metadata
      t.datetime :created_at, null: false, precision: 6
      t.string :name, null: false
      t.index :last_heartbeat_at, name: "index_solid_queue_processes_on_last_heartbeat_at"
      t.index %i[name supervisor_id], name: "index_solid_queue_processes_on_name_and_supervisor_id", unique: true
      t.index :supervisor_id, name: "index_solid_queue_processes_on_supervisor_id"
    end
  end

  def recurring_tasks(conn)
    conn.create_table :solid_queue_recurring_tasks, force: true do |t|
      t.string :key, :schedule, null: false
      t.string :command, limit: 2048
      t.string :class_name
      t.text :arguments
      t.string :queue_name
      t.integer :priority, default: 0
      t.boolean :static, default: true, null: false
      t.text :description
      t.datetime :created_at, :updated_at, null: false, precision: 6
      t.index :key, name: "index_solid_queue_recurring_tasks_on_key", unique: true
      t.index :static, name: "index_solid_queue_recurring_tasks_on_static"
    end
  end
end
