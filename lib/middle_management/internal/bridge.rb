module MiddleManagement
  module Internal
    # Everything that crosses between the gem's Ruby and its native
    # extension, in one place. The extension reads and builds these Structs
    # by member name and checks, when it loads, that the members are the
    # ones below: rename one here and in
    # `ext/middle_management/src/ruby/bridge.rs` together.
    #
    # A dispatcher starts with `Native::Dispatcher.new(Settings)`, once per
    # process (again after a fork); the simulator runs with
    # `Native.simulate(Settings, trace, Simulation)`.
    #
    # One decision, as the coordinator thread makes it (Runtime::Decision#run):
    #
    #   dispatcher.next_message(timeout)  # => Request (or an Event)
    #     Ruby claims the app's lease in the store, waiting `gap` seconds
    #     since the app's last decision, and counts every pool's jobs.
    #   dispatcher.decide(Decide)         # => Outcome, made in Rust
    #     Ruby records the Outcome in the store and frees the lease.
    #   dispatcher.settle(id, recorded)   # the calls go out (if recorded)
    #
    # or, when another process holds the lease, `held(id, retry_in,
    # look_in)`; when anything fails, `failed(id)`. The other native calls
    # carry plain values: `wake(pool_index, due_in)`, `watch`, `check`, `alert(text)`,
    # `flush(timeout, looks)`, `shutdown`, and `status`, a Hash
    # (Runtime::Status reads it).
    module Bridge
      # The dispatcher asks for a decision. `why`: :news (jobs were
      # enqueued), :due (a scheduled job comes due), :periodic, :boot,
      # :check (the Scheduler task) or :flush (the process exits). `gap`:
      # seconds since the app's last decision within which this one is
      # left to that one.
      Request = Struct.new(:id, :why, :gap)

      # What a decision is made from. `now_ms` and `window_opens_at`: the
      # store's clock, in milliseconds. `shared_store`: other processes
      # decide for this app too (a database or Redis store). `pools`: one
      # Pool per configured pool, in order.
      Decide = Struct.new(:request_id, :now_ms, :shared_store, :window_opens_at, :pools, keyword_init: true)

      # One pool's fresh count and what the store keeps of it. `next_run_in`:
      # seconds until its next scheduled job, or nil. `top_busy_dyno`: the
      # highest dyno number running one of its jobs (or nil);
      # `busy_unnumbered`: a busy dyno has no number (Fir). `quantity`: what
      # Heroku last confirmed, or nil. `memory`: the pacing's memory, as the
      # last decision left it (Store::PoolRecord#memory). `job_seconds` and
      # `boot_seconds`: a job's mean duration and a dyno's boot as measured
      # lately (Measures), or nil until both are (JOBS_PER_WORKER=auto
      # sizes by them).
      Pool = Struct.new(:runnable, :running, :next_run_in, :top_busy_dyno, :busy_unnumbered, :quantity, :memory,
                        :job_seconds, :boot_seconds, keyword_init: true)

      # The app's decision. `pools`: one Verdict per pool. `window_opens_at`
      # and `look_at` (store milliseconds): to record for the app, so that
      # every process knows when the next call may go and when to look
      # again. `waiting`: a pool waits to send (an exiting process leaves
      # its news for the next to decide on).
      Outcome = Struct.new(:pools, :window_opens_at, :look_at, :waiting)

      # One pool's part. `wanted`: what the policy wants now; `needed`: what
      # the work needs (dynos numbered above it drain); `reason`: why, in
      # words; `stops_busy`: the busy dyno MAX_WORKERS leaves out, or nil;
      # `send_quantity`: the quantity the call sends, or nil; `memory`: the
      # pacing's memory to record; `look_again_in`: seconds until this pool
      # must be looked at again, or nil; `over_max`: the work asks for more
      # than MAX_WORKERS (the backlog alert's streak); `jobs_per_worker`:
      # what the work was sized by (nil with rules).
      Verdict = Struct.new(:wanted, :needed, :reason, :stops_busy, :send_quantity, :memory, :look_again_in,
                           :over_max, :jobs_per_worker)

      # What a dispatcher is started with (Configuration#native_settings),
      # every value checked in Ruby already. `target`: a Target; `pools`:
      # one PoolSettings per pool, in order. Times in seconds.
      # `changes_per_hour`: each pool's formation calls an hour on average
      # (in bursts of up to 10), 0 for no limit. `alert_webhook_url`: where
      # `alert(text)` posts, or nil (a secret).
      Settings = Struct.new(:target, :pools, :api_throttle, :scale_down_delay, :changes_per_hour, :count_interval,
                            :connect_timeout, :request_timeout, :alert_webhook_url, keyword_init: true) do
        def inspect = "#<struct #{self.class.name} #{to_h.merge(alert_webhook_url: alert_webhook_url && "[REDACTED]")}>"
        alias_method :to_s, :inspect
      end

      # Where the calls go: nowhere with `dry_run` (decide and log), else
      # Heroku's API at `base_url` for `app`, with a `token` or a `username`
      # and `password` (an API token). The secrets never show in `inspect`.
      Target = Struct.new(:dry_run, :base_url, :app, :token, :username, :password, keyword_init: true) do
        def inspect
          secret = ->(value) { value && "[REDACTED]" }
          "#<struct #{self.class.name} dry_run=#{dry_run.inspect}, base_url=#{base_url.inspect}, " \
            "app=#{app.inspect}, token=#{secret[token].inspect}, username=#{username.inspect}, " \
            "password=#{secret[password].inspect}>"
        end
        alias_method :to_s, :inspect

        def pretty_print(printer) = printer.text(inspect)
      end

      # One pool as the policy sees it (Configuration::Pool#to_native).
      # `formation_types`: the process types it sets, several in Eco/Basic
      # mode (`eco`: one dyno each, turned on in order). `rules`: pairs of
      # [at_least, workers], or nil to size by `jobs_per_worker`; with
      # `learn` (JOBS_PER_WORKER=auto) that is the fallback until the
      # jobs and a boot are measured. `wake_lead`: seconds.
      PoolSettings = Struct.new(:name, :formation_types, :eco, :min, :max, :jobs_per_worker, :learn, :rules,
                                :dyno_concurrency, :wake_lead, keyword_init: true)

      # How `middle_management simulate` replays a trace: the `strategy`
      # ("ours", "always-on", "clairvoyant", "hirefire", "judoscale") and
      # its options (`workers` for always-on; `checkup`, `ratio`,
      # `upscale_timeout`, `downscale_timeout`, `decrementable` for
      # HireFire; `jump` for Judoscale), and Heroku's model (`boot_time`,
      # `grace`, in seconds; `price` per dyno-hour).
      Simulation = Struct.new(:strategy, :workers, :checkup, :ratio, :upscale_timeout, :downscale_timeout,
                              :decrementable, :jump, :boot_time, :grace, :price, keyword_init: true)
    end
  end
end
