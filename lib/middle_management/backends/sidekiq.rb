require "middle_management/backends/sidekiq/counting"
require "middle_management/backends/sidekiq/fetch_hook"
require "middle_management/backends/sidekiq/hooks"
require "middle_management/backends/sidekiq/retry_schedule"
require "middle_management/backends/backend"
require "middle_management/worker/drain"

module MiddleManagement
  module Backends
    # Sidekiq (6.x and 7.x). Installing needs no change to job classes:
    #
    # - Enqueue: Sidekiq::Client#raw_push, the one place every push goes
    #   through (perform_async, perform_in/perform_at, push_bulk, ActiveJob,
    #   the poller moving due scheduled and retry jobs), *after* the client
    #   middleware has run and *once Redis took the jobs*: a push that a
    #   middleware stopped, or that Redis refused, wakes nobody.
    # - Server middleware: a job starting or ending wakes the dispatcher (a
    #   failure Sidekiq will retry says when the retry is due); a Sidekiq
    #   process is long-running from its startup event, and fetches no job
    #   while its dyno drains (FetchHook). Its identity in Redis starts with
    #   DYNO, so the busy jobs' dynos are known.
    #
    # Counts: see Sidekiq::Counting. The store is Sidekiq's Redis.
    module Sidekiq
      extend Backend

      @install_lock = Mutex.new

      class << self
        def available?
          defined?(::Sidekiq::Client) ? true : false
        end

        # Idempotent: each hook goes in once, whatever the number of boots.
        def install(agent)
          agent.add_backend(self)
          @install_lock.synchronize do
            require "sidekiq/api"
            ::Sidekiq::Client.prepend(ClientHook) unless ::Sidekiq::Client <= ClientHook
            ::Sidekiq.configure_server do |config| # in a Sidekiq process only
              config.server_middleware { |chain| chain.add(ServerMiddleware) unless chain.exists?(ServerMiddleware) }
              require "sidekiq/fetch"
              ::Sidekiq::BasicFetch.prepend(FetchHook) unless ::Sidekiq::BasicFetch <= FetchHook
              config.on(:startup) { MiddleManagement.watch } # watching is once per process, however often booted
            end
          end
        end

        # Busy jobs show in the WorkSet at the process's next heartbeat
        # (every 5 s in Sidekiq 6, 10 s in 7), and a draining dyno stops
        # fetching within Worker::Drain::CHECK_EVERY.
        def busy_lag
          (::Sidekiq::VERSION.to_i >= 7 ? 10 : 5) + Worker::Drain::CHECK_EVERY
        end

        def store(app)
          Store::Redis.new(app) { |&block| ::Sidekiq.redis(&block) }
        end

        # Redis's counts cost the same at any length: `cap` is not needed.
        def count(pool, cap: nil)
          Counting.count(pool, running_here: -> { ServerMiddleware.running.values })
        end
      end
    end
  end
end
