# GoodJob's tables, for the specs that run without GoodJob (CI has no
# fetched code, and Debian does not package it): written here from the facts
# of GoodJob 3.99's published install migration
# (lib/generators/good_job/templates/install/migrations/create_good_jobs.rb.erb),
# the schema GoodJob 4 starts from, with the two columns GoodJob 4.19's
# update migrations add. Real GoodJob 3.99 and 4.19 run against these tables
# too (spec/good_job_spec.rb with GOOD_JOB_LIB), which checks them.
module GoodJobSchema
  module_function

  def define(model)
    conn = model.connection
    conn.create_table(:good_jobs, id: :uuid, force: true) do |t|
      t.text :queue_name
      t.integer :priority
      t.jsonb :serialized_params
      t.datetime :scheduled_at
      t.datetime :performed_at
      t.datetime :finished_at
      t.text :error
      t.timestamps
      t.uuid :active_job_id
      t.text :concurrency_key
      t.text :cron_key
      t.uuid :retried_good_job_id
      t.datetime :cron_at
      t.uuid :batch_id
      t.uuid :batch_callback_id
      t.boolean :is_discrete
      t.integer :executions_count
      t.text :job_class
      t.integer :error_event, limit: 2
      t.text :labels, array: true
      t.uuid :locked_by_id
      t.datetime :locked_at
      t.integer :lock_type, limit: 2 # GoodJob 4's update migrations (07_add_lock_type_to_good_jobs) add it
    end
    conn.create_table(:good_job_batches, id: :uuid, force: true) do |t|
      t.timestamps
      t.text :description
      t.jsonb :serialized_properties
      t.text :on_finish, :on_success, :on_discard, :callback_queue_name
      t.integer :callback_priority
      t.datetime :enqueued_at, :discarded_at, :finished_at
      t.datetime :jobs_finished_at # GoodJob 4's (02_add_jobs_finished_at_to_good_job_batches)
    end
    conn.create_table(:good_job_executions, id: :uuid, force: true) do |t|
      t.timestamps
      t.uuid :active_job_id, null: false
      t.text :job_class, :queue_name
      t.jsonb :serialized_params
      t.datetime :scheduled_at, :finished_at
      t.text :error
      t.integer :error_event, limit: 2
      t.text :error_backtrace, array: true
      t.uuid :process_id
      t.interval :duration
    end
    conn.create_table(:good_job_processes, id: :uuid, force: true) do |t|
      t.timestamps
      t.jsonb :state
      t.integer :lock_type, limit: 2
    end
    conn.create_table(:good_job_settings, id: :uuid, force: true) do |t|
      t.timestamps
      t.text :key
      t.jsonb :value
      t.index :key, unique: true
    end
    indexes(conn)
  end

  # The indexes GoodJob's counts and dequeues read (the rest of its
  # migration's indexes serve its dashboard).
  def indexes(conn)
    conn.add_index :good_jobs, :scheduled_at, where: "(finished_at IS NULL)", name: :index_good_jobs_on_scheduled_at
    conn.add_index :good_jobs, %i[queue_name scheduled_at], where: "(finished_at IS NULL)",
                                                            name: :index_good_jobs_on_queue_name_and_scheduled_at
    conn.add_index :good_jobs, %i[active_job_id created_at], name: :index_good_jobs_on_active_job_id_and_created_at
    conn.add_index :good_jobs, %i[cron_key cron_at], where: "(cron_key IS NOT NULL)", unique: true,
                                                     name: :index_good_jobs_on_cron_key_and_cron_at_cond
    conn.add_index :good_jobs, %i[priority created_at], order: { priority: "ASC NULLS LAST", created_at: :asc },
                                                        where: "finished_at IS NULL", name: :index_good_job_jobs_for_candidate_lookup
    conn.add_index :good_jobs, %i[priority scheduled_at], order: { priority: "ASC NULLS LAST", scheduled_at: :asc },
                                                          where: "finished_at IS NULL AND locked_by_id IS NULL",
                                                          name: :index_good_jobs_on_priority_scheduled_at_unfinished_unlocked
    conn.add_index :good_jobs, :locked_by_id, where: "locked_by_id IS NOT NULL", name: "index_good_jobs_on_locked_by_id"
    conn.add_index :good_job_executions, %i[active_job_id created_at],
                   name: :index_good_job_executions_on_active_job_id_and_created_at
    conn.add_index :good_job_executions, %i[process_id created_at],
                   name: :index_good_job_executions_on_process_id_and_created_at
  end

  # GoodJob's advisory lock key for a row: the first 64 bits of
  # md5("<table>-<value>"), as GoodJob::AdvisoryLockable takes it.
  def lock_key_sql(table, value) = "('x' || substr(md5('#{table}-' || '#{value}'), 1, 16))::bit(64)::bigint"
end
