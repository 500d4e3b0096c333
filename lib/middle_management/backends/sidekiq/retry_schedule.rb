module MiddleManagement
  module Backends
    module Sidekiq
      # When Sidekiq will retry a job that just failed, so a wake-up is set
      # for it: the retry set's score is written after the server middleware
      # has returned, too late for the count that the failure's wake-up runs.
      module RetrySchedule
        DEFAULT_MAX_RETRIES = 25 # Sidekiq::JobRetry::DEFAULT_MAX_RETRY_ATTEMPTS

        module_function

        # Seconds until Sidekiq retries the job, at the earliest: its default
        # backoff without the random part. Nil when it will not (no retries
        # left, retries off, or the process is shutting down, which puts
        # the job back on its queue instead).
        def retry_in(job, error)
          return nil if defined?(::Sidekiq::Shutdown) && error.is_a?(::Sidekiq::Shutdown)

          retry_option = job["retry"]
          return nil unless retry_option

          max = retry_option.is_a?(Integer) ? retry_option : max_retries
          count = job["retry_count"] ? job["retry_count"] + 1 : 0
          count < max ? (count**4) + 15 : nil
        end

        def max_retries
          option(:max_retries) || DEFAULT_MAX_RETRIES
        end

        # A Sidekiq setting: Sidekiq.default_configuration in 7, Sidekiq[]
        # from 6.5, Sidekiq.options before.
        def option(name)
          if ::Sidekiq.respond_to?(:default_configuration) then ::Sidekiq.default_configuration[name]
          elsif ::Sidekiq.respond_to?(:[]) then ::Sidekiq[name]
          else ::Sidekiq.options[name]
          end
        end
      end
    end
  end
end
