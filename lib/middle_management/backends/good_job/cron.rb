module MiddleManagement
  module Backends
    module GoodJob
      # GoodJob's cron entries (config.good_job.cron, GOOD_JOB_CRON), read
      # through its public configuration: each entry's queue (its `set:
      # { queue: }`, else its job class's) and schedule. A running worker
      # enqueues them, so they count as jobs scheduled for their next
      # occurrence (Recurring). Whichever process enables cron, the entries
      # are the app's configuration: they are taken as enabled.
      module Cron
        module_function

        # Seconds to the next occurrence of an entry on one of `pool`'s queues.
        def next_in(pool, now: Time.now)
          schedules = entries.filter_map { |queue, schedule| schedule if pool.covers?(queue) }
          Recurring.next_in(schedules, now: now) do |schedule|
            MiddleManagement.agent&.note_once(
              [:good_job_cron, schedule.to_s],
              "GoodJob cron schedule #{schedule.inspect} cannot be read here: its jobs are enqueued by a running " \
              "worker, so set MIN_WORKERS to 1 or more"
            )
          end
        end

        # [queue, schedule] of each entry.
        def entries
          ::GoodJob.configuration.cron.values.map { |params| [queue_of(params), params[:cron]] }
        end

        def queue_of(params)
          set = params[:set]
          set = set.call if set.respond_to?(:call)
          queue = set.is_a?(Hash) ? set[:queue] : nil
          queue ||= job_class(params[:class])&.queue_name
          queue.is_a?(String) || queue.is_a?(Symbol) ? queue.to_s : "default"
        rescue StandardError
          "default"
        end

        def job_class(name) = name.is_a?(Class) ? name : name.to_s.safe_constantize
      end
    end
  end
end
